from classify.tracking._all import *  # noqa: F401,F403
