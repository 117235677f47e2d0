"""What every stage and protocol adapter shares: the Call, Usage and the error map."""
