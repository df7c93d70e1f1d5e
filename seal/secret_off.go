//go:build !goexperiment.runtimesecret

package seal

// secretDo runs f. Built with GOEXPERIMENT=runtimesecret it runs f under
// runtime/secret.Do instead (secret_on.go), which erases the temporaries
// of the key operations; without it they linger until reused.
func secretDo(f func()) { f() }
