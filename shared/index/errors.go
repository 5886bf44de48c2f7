package index

import "errors"

var (
	// ErrRebuildRunning: another rebuild of the tenant is building a
	// generation and kept it alive recently.
	ErrRebuildRunning = errors.New("a rebuild of this tenant is running")
	// ErrGenerationConflict: the tenant's generations changed under an
	// operation that expected them unchanged (another rebuild switched
	// first, or gc removed a generation it found stale).
	ErrGenerationConflict = errors.New("generation changed concurrently")
	// ErrGenerationActive: the generation serves lookups and cannot be dropped.
	ErrGenerationActive = errors.New("generation is active")
	// ErrNoGeneration: no such generation is recorded.
	ErrNoGeneration = errors.New("no such generation")
)
