"""Pure protocol code: codecs and state machines; never imports trio."""
