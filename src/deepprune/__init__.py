"""deepprune."""
