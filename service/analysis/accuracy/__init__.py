"""Agreement of the judge with labelled data: the dev-set split and the accuracy reports."""
