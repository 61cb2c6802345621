"""What each part of REINFORCE is worth: learning curves and gradient statistics of its variants."""
