package main

import "context"

func runFakecam(_ context.Context, _ *env, _ []string) error {
	return errNotYet("fakecam")
}
