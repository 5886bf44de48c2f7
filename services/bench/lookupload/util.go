package main

import (
	"runtime"

	"github.com/calldex/calldex/shared/phone"
)

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

func tenantPhoneOptions() (phone.Options, error) {
	return phone.Options{Region: "CH", TailDigits: 9}, nil
}
