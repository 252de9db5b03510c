import { Module } from '@nestjs/common';
import { PackagesService } from './packages.service.js';

@Module({ providers: [PackagesService], exports: [PackagesService] })
export class PackagesModule {}
