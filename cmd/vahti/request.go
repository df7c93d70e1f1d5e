package main

import "context"

func runRequest(_ context.Context, _ *env, _ []string) error {
	return errNotYet("request")
}
