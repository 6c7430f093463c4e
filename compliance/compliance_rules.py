"""Python compliance checks shipped with Jobwarden (an example of the
decorator; SQL rules live in the database)."""

from __future__ import annotations

from compliance.registry import rule


@rule(name="negative-stock", area="stock", description="No stock row may hold a negative quantity")
def negative_stock(ctx):
    from compliance.models import Stock

    for item in Stock.objects.filter(quantity__lt=0).select_related("warehouse", "product"):
        yield {"warehouse": item.warehouse.code, "sku": item.product.sku, "quantity": item.quantity}
