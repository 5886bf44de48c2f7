package phone_test

import (
	"fmt"

	"github.com/calldex/calldex/shared/phone"
)

func ExampleCandidates() {
	keys, err := phone.Candidates("41215522000", phone.Options{Region: "CH"})
	fmt.Println(keys, err)
	// Output: [e:+41215522000 d:41215522000 t:215522000] <nil>
}

func ExampleIndexKeys() {
	e164, keys, err := phone.IndexKeys("021 552 20 00", phone.Options{Region: "CH"})
	fmt.Println(e164, keys, err)

	// A number that never becomes valid is indexed by its digits.
	e164, keys, err = phone.IndexKeys("044 123 45", phone.Options{Region: "CH"})
	fmt.Printf("%q %v %v\n", e164, keys, err)
	// Output:
	// +41215522000 [e:+41215522000 t:215522000] <nil>
	// "" [d:04412345] <nil>
}

func ExampleNormalize() {
	fmt.Println(phone.Normalize("+1 (212) 555-0100 x204", phone.Options{Region: "US"}))
	// Output: +12125550100 <nil>
}
