package main

import "context"

func runReindex(_ context.Context, _ *env, _ []string) error {
	return errNotYet("reindex")
}
