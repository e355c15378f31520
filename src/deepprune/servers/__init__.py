"""Servers deepprune runs: the replay server (:mod:`deepprune.servers.replay`, recorded traces over
the OpenAI streaming API), the local llama.cpp model server (:mod:`deepprune.servers.local`,
built from the llama-cpp-python sdist) and the client load generator
(:mod:`deepprune.servers.loadgen`, pre-encoded streams for client throughput benchmarks)."""
