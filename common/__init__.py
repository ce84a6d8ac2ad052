"""What every app shares and that depends on no app: the error services raise, and who may
do what (roles and the checks built on them)."""
