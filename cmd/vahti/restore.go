package main

import "context"

func runRestore(_ context.Context, _ *env, _ []string) error {
	return errNotYet("restore")
}
