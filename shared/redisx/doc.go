// Package redisx opens the Redis that REDIS_URL names: one server, a
// Sentinel-managed master, or a Redis Cluster, all as a
// redis.UniversalClient, so that the index, the checkpoint and the
// readiness checks run unchanged on each.
//
// Which one a URL names:
//
//	redis://host:6379/0                      one server (redis.ParseURL)
//	rediss://…                               the same over TLS
//	redis+sentinel://s1:26379/0?master_name=mymaster&addr=s2:26379
//	redis://s1:26379/0?master_name=mymaster  Sentinel (redis.ParseFailoverURL):
//	                                         any URL with master_name; host and
//	                                         addr= are the sentinels
//	redis+cluster://n1:7000?addr=n2:7000     Redis Cluster (redis.ParseClusterURL):
//	rediss+cluster://…                       host and addr= are seed nodes
//
// Every other query parameter is go-redis's (dial_timeout, pool_size, …).
// Open makes the client honour context deadlines (ContextTimeoutEnabled),
// so that a lookup's budget bounds its wait on a stalled Redis.
package redisx
