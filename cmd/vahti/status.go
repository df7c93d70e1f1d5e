package main

import "context"

func runStatus(_ context.Context, _ *env, _ []string) error {
	return errNotYet("status")
}
