// Package domain holds the aggregates of the job board, the events they
// decide on and the rules they guard. It knows nothing of SQL, HTTP or
// Watermill: an aggregate changes state only by applying events, both when a
// command runs and when its history is replayed.
package domain
