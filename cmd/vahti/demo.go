package main

import "context"

func runDemo(_ context.Context, _ *env, _ []string) error {
	return errNotYet("demo")
}
