"""Programs the agent runs on a node: they speak plain S3, so every engine shares them."""
