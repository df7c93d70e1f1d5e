package main

import "context"

func runHold(_ context.Context, _ *env, _ []string) error {
	return errNotYet("hold")
}
