"""Python checks the worker imports through COMPLIANCE_RULE_MODULES."""

from compliance.registry import rule


@rule(name="broken-python-check", area="material", description="always raises")
def broken(ctx):
    raise RuntimeError("the ERP is unreachable")
