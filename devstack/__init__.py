"""Developer tooling around the pipeline, never loaded by a service.

Modules:
    stack: the local stack supervisor behind `finsent stack up | down | status`: a real
        single-node Kafka broker (``kraft`` formats its storage) and a real Redis server,
        run as detached processes tracked by pid files (``pidfile``).
    soak: the live soak behind `finsent soak` (`docs/soak.md`): a private stack, the real
        services as subprocesses, scheduled faults and a verdict.

It builds on the shared contracts in ``finsent`` (settings, topics, Kafka and Redis
clients); ``finsent`` and the services never import it.
"""
