"""The retention team's web page: server-rendered (Jinja2), every asset in the package."""
