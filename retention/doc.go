// Package retention destroys footage: the sweeper (expired segments and
// export packages), the nightly purge (reconcile, stray files, hold review,
// purge report), the disk guard (free-space floor) and legal holds.
//
// Every deletion, whoever asks for it, is decided by one pure function,
// Deletable (gate.go), and carried out by one file, remove.go, which is the
// only place in the tree that unlinks footage. A test greps the tree for
// os.Remove and friends to keep it that way.
package retention
