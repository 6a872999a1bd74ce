"""(issue 6: filled by its owner)"""
