// Package embedded runs the registry tier uses when tier.yaml names none: an
// olareg OCI registry that keeps its content on disk, one OCI layout per
// repository under a storage directory DIR.
//
// # One owner per directory
//
// A storage directory is served by at most one process at a time. The owner
// holds an exclusive, non-blocking flock(2) on DIR/.lock for as long as it
// serves; the kernel releases the lock when the process exits, however it
// exits, so a crashed owner never leaves the directory locked. The .lock file
// itself stays on disk: removing it would let two processes lock two
// different files.
//
// After it listens, the owner writes DIR/serve.json atomically (a temporary
// file renamed into place):
//
//	{"addr":"127.0.0.1:5000","pid":1234,"mode":"serve","started":"2020-11-12T10:30:00Z"}
//
// and removes it when it closes. addr is an address other processes on this
// machine can dial. mode is "serve" for a long-running `tier registry serve`
// ([Serve]) and "session" for a registry that an ordinary command starts for
// itself ([Open]). serve.json is only advice: it is trusted only while the
// lock is held and its pid is alive, and a stale file left by a killed owner
// is ignored and replaced by the next owner.
//
// # Reaching the registry
//
// [Serve] takes the lock and serves until [Server.Close] or until its context
// is cancelled. If another process owns DIR it fails with an error wrapping
// [ErrLocked] (a [*LockedError]) that names the owner's pid and address.
// By default it listens on 127.0.0.1:5000 and refuses any address that is
// not loopback unless [Options.AllowRemote] is set ([ErrNotLoopback]).
//
// [Open] is how every other command reaches the registry:
//
//   - if a "serve" owner is running and answers GET /v2/, Open returns its
//     address and a release that does nothing;
//   - if DIR is free, Open takes it and starts a "session" registry on
//     127.0.0.1 with a random port, and release shuts it down;
//   - if another short-lived command owns DIR as a "session", or the owner
//     has not written serve.json yet, Open polls until the owner leaves or a
//     "serve" owner appears, logging once that it is waiting, and gives up
//     when its context is done.
//
// # Storage
//
// olareg writes each repository's index.json through a temporary file and a
// rename, and moves a blob into blobs/ by rename only after its digest has
// been verified, so a process killed in the middle of a push leaves the tags
// it had already written intact and never a half-written tag. Manifests are
// read whole before anything is stored. Uploads in progress live in each
// repository's _uploads directory; a killed owner leaves its partial upload
// files there, where they are never served.
//
// Garbage collection keeps olareg's defaults (every 15 minutes, one hour
// grace period, empty repositories removed) except that untagged manifests
// and referrers whose subject is missing are kept: promotion records are
// referrers, and builds may be addressed by digest alone. olareg's garbage
// collection removes an _uploads directory only when it is empty, so the
// partial files of a killed owner stay until someone deletes them.
//
// # Concurrency
//
// olareg (v0.1.2 and v0.2.2 alike) reads a repository's "exists" flag
// without the lock that guards its writes, so concurrent pushes to a new
// repository are a data race. The registry handler is wrapped in a guard
// that orders those requests (see guard.go); it holds a lock only until a
// response header is written, never while blob data streams.
package embedded
