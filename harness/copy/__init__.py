"""The copy engine: moves an image from any ImageSource to any ImageDestination."""
