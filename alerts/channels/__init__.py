"""On-call channels: each sends one `Alert` by its own convention, or raises `NotifyError`.

`base` holds the protocol and the HTTP helper; one module per channel holds its payload,
its dedupe key and its authentication (see docs/alerts.md, "Paging contract").
"""
