"""Running exported models: inference sessions, the tokenizer and the decoding of outputs into
answers. This is the contract the web (JavaScript) and Android (Java) runtimes mirror."""
