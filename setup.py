from setuptools import find_packages, setup

setup(
    name="ppfom",
    version="0.1.0",
    description="First Order Motion Model in PaddlePaddle: animate photos, train, compress, export to Paddle Lite",
    packages=find_packages(include=["ppfom", "ppfom.*"]),
    package_data={"ppfom": ["assets/*.pdparams"]},  # the small model ppfom trains and ships
    python_requires=">=3.8",
    # paddlepaddle (CPU) or paddlepaddle-gpu is installed separately: see README.md.
    install_requires=["numpy", "scipy", "pyyaml", "tqdm"],
    entry_points={"console_scripts": ["ppfom=ppfom.cli:main"]},
)
