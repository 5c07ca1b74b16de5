"""The sans-I/O core: every operation as a `Call` (script, keys, args, reply parser).

Nothing here imports a Redis client; the sync and async shells only send Calls and return
what `Call.parse` makes of the reply.
"""
