import sys

print("Hello, World!")
print(f"Python {sys.version_info.major} in a container built by hoist")
