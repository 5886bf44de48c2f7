package index

// MaxPipeline is how many scripts ApplyBatch sends in one pipeline.
const MaxPipeline = maxPipeline
