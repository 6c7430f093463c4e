"""Run parameters: where they come from and how they fill `{Placeholders}`.

Sources, later wins: built-in macros (`now`, `today`, `yesterday`, `run_id`,
`job_name`, `attempt`, in the job's time zone) < the job's static
`parameters` < its secret parameters (`config.secret_parameters`, encrypted)
< dynamic parameters from `parameter_queries`, run just before the job
< trigger-time overrides (an overridden query is not run).

Placeholders are `{Name}` or `{Name:format}` (strftime for dates,
`format()` otherwise). Only an identifier in braces is a placeholder, so JSON
bodies keep their literal braces; `{{Name}}` writes a literal `{Name}`.

Values are data, never code: each kind renders in a mode that keeps them so —
argv elements stay single elements (process), SQL values are bound (sql), URL
path/query values are percent-encoded, header values may not contain line
breaks, and JSON bodies get string values JSON-escaped (http).
"""

from jobs.params.mask import (  # noqa: F401
    is_secret_name,
    jsonable,
    mask_parameters,
    secret_parameter_names,
    secret_values,
)
from jobs.params.overrides import (  # noqa: F401
    check_overrides,
    protected_parameters,
    validate_overridable,
)
from jobs.params.render import (  # noqa: F401
    IDENTIFIER,
    MACROS,
    MASK,
    ParameterError,
    UnresolvedParameter,
    format_value,
    iter_strings,
    placeholders,
    render,
    render_all,
)
from jobs.params.resolve import (  # noqa: F401
    bind_placeholders,
    macros,
    resolve_parameters,
    run_parameter_query,
    validate_parameter_spec,
)
