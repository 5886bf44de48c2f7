module github.com/calldex/calldex/events

go 1.26.8
