package main

import "context"

func runPurge(_ context.Context, _ *env, _ []string) error {
	return errNotYet("purge")
}
