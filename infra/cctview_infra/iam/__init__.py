"""IAM: the nodes' role, the policy documents, and the evaluator that checks calls against them."""
