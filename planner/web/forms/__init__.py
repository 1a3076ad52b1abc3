"""Web forms, one module per page family; editable fields come from the domain's field lists."""
