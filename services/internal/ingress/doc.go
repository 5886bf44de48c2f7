// Package ingress is Calldex's HTTP front: thin codecs for each dialect
// (peoplefone CONNECTOR, While1 PBX webservice, App Connect, admin) over the
// one lookup core and the workflow dispatcher.
package ingress
