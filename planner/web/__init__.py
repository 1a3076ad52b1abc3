"""The server-rendered web app: views and forms, one module per page family, and the context
processor. Thin: validates input, calls one domain service or selector, renders.

May import every domain package; never ``api`` or ``planner.engine``.
"""
