// Package deadletter reads and redrives the DLQ stream: the messages a
// consumer gave up on, stored unchanged with headers naming the reason, the
// attempts and the original subject. calldexctl's dlq commands, the admin
// API and the web console all go through it, so there is one way to list a
// dead letter and one way to put it back.
package deadletter
