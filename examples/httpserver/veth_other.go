//go:build !linux

package main

func isVeth(string) bool { return false }
