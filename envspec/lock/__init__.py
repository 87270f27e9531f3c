"""The lock stage: a valid spec -> a plan -> a resolution through the loopback router -> a hashed lock.

``plan`` (what to resolve, against which indexes) -> ``build`` (the orchestration: ``router`` in front
of the mirrors' ``index`` client, a resolver from ``resolvers``, files chosen by ``artifacts``) ->
``model`` (the typed :class:`Lock` value) -> ``file`` (render and read a ``pylock.toml``). ``state``
answers "is this lock fresh?" without resolving anything.
"""
