# Port checks of the scripts that start services on this machine
# (services-up.sh, .ci/run); sourced, not run.

# up PORT: something on 127.0.0.1 accepts connections on PORT.
up() { timeout 1 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# wait_port PORT: waits up to 30 s for PORT to open.
wait_port() { for _ in $(seq 1 60); do up "$1" && return 0; sleep 0.5; done; echo "port $1 did not open" >&2; return 1; }
