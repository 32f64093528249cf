"""One module per dashboard; `dashboards.definitions.all_dashboards` lists them."""
