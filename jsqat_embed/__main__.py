from jsqat_embed.cli.main import main

main()
