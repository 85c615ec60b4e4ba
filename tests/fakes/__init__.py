"""Test fakes: a scripted loopback model server for driving real agent CLIs offline."""
