package index

// MaxPipeline is how many contacts ApplyBatch writes in one pipeline.
const MaxPipeline = maxPipeline

// NewMemoryHashed is a Memory hashing refs and keys with hash, to test it
// when strings share hashes.
func NewMemoryHashed(hash func(string) uint64) *Memory { return newMemory(hash) }
