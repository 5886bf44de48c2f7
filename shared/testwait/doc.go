// Package testwait is how tests wait for something that happens on another
// goroutine or in another process: poll a condition until it holds or a
// timeout fails the test, instead of sleeping for a guessed duration.
package testwait
