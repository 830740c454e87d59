// Package multiproc holds no code, only a test: the job board run as it is
// deployed, several API and worker processes of the real binary on one
// database, under a mixed load while some of them are killed with SIGKILL,
// and then checked for what a client was promised. A crash of a process
// must lose no write that was answered 2xx, double none, and leave no read
// behind a write it followed; and every application must reach its
// recruiter by mail as the README promises.
//
// It runs twice: on the primary alone, and with the API processes reading
// from a streaming replica of a scratch primary (internal/pgcluster), whose
// replay is paused for a while mid-load, because read-your-writes across
// processes is hardest to keep when the reads are served by a server that
// lags behind the writes.
//
// The test builds cmd/jobboard once (without the race detector, which the
// test itself runs under) and starts it as OS processes, because only a real
// process can be killed without running a line of its shutdown code, and
// only separate processes share nothing but the database and the network.
package multiproc
